"""The formats of what lives outside the slots, and the compatibility rule.

The journal, the keys and the settings are kept in the data directory and
outlive every update and every rollback. Each store has a format number.
A build declares, per store, [oldest it reads, newest it reads, the one it
writes] (DATA_FORMATS below, copied into every bundle's manifest).

The rule (docs/FLASHING.md):
1. Every change to what a store holds is a new format number: a new
   journal record kind or field (firmware/records.py quarantines a record
   it does not know), a renamed or re-meant field, a new settings name
   (settings.json refuses unknown names), another key store layout. A build
   that reads formats up to N knows the schemas of each of them.
2. An update installs only if the new build reads what the installed one
   writes (the old journal opens after the update), and the installed one
   reads what the new build writes (the journal opens again after a
   rollback). So a new format ships in two steps: first a build that reads
   it, then one that writes it.
"""

# store -> [oldest format read, newest format read, format written]
DATA_FORMATS = {"journal": [1, 1, 1], "settings": [1, 1, 1], "keys": [1, 1, 1]}


def check_compatible(installed, new):
    """None if `new` (a bundle's "data") can replace `installed` (the
    installed build's) and be rolled back; else why not, as a sentence."""
    if not installed:
        return None
    for store in installed:
        if store not in new:
            return "bundle does not say which %s format it reads: rebuild it with pos-bundle" % store
        old_min, old_max, old_writes = installed[store]
        new_min, new_max, new_writes = new[store]
        if not new_min <= old_writes <= new_max:
            return ("bundle cannot read the %s this handset holds (format %d; it reads %d-%d): "
                    "install a build that reads both first" % (store, old_writes, new_min, new_max))
        if not old_min <= new_writes <= old_max:
            return ("bundle writes %s format %d, which the installed version cannot read after a "
                    "rollback (it reads %d-%d): install a build that reads format %d first"
                    % (store, new_writes, old_min, old_max, new_writes))
    return None
