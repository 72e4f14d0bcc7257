"""Host tools for the bench (CPython): pos-bundle and pos-flash."""
