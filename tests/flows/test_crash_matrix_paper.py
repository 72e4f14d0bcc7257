"""The crash matrix of tests/flows/test_crash_matrix.py for a sale under
the paper settings that print less (merchant_only, none): its own file so
that the two halves of the matrix run on two test workers side by side."""

import pytest

from tests.flows.test_crash_matrix import play

# A script abandoned by a cut may still ask the dead handset for a screen.
pytestmark = pytest.mark.filterwarnings("ignore:coroutine .* was never awaited:RuntimeWarning")


@pytest.mark.slow
@pytest.mark.parametrize("paper", ["merchant_only", "none"])
def test_power_cut_at_every_point_of_a_sale_with_less_paper(tmp_path, paper):
    """The same matrix for a sale whose cardholder gets the QR e-receipt:
    nothing lost or doubled, and at no boot a copy the setting does not
    print (paper none: not one slip, so a missing printer is never waited for)."""
    events, _ = play(tmp_path / "dry", "sale", None, None, paper)
    second_cuts = 0
    for first in range(len(events)):
        _, recovery = play(tmp_path / ("cut%d" % first), "sale", first, None, paper)
        for second in range(len(recovery)):
            play(tmp_path / ("cut%d-%d" % (first, second)), "sale", first, second, paper)
            second_cuts += 1
    print("sale, paper %s: %d cut points in the flow, %d second cuts in recovery" % (paper, len(events),
                                                                                     second_cuts))
