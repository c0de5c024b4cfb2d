"""The firm's FEC (Fichier des Écritures Comptables) in the portal: import (parser, importer),
what is computed at import (indicators by month, open items, charges by party), and what the
pages read. Design: docs/adr/0027-fec-indicators.md."""

import os

# Polars allocates with its own jemalloc, which by default keeps freed pages for seconds: a
# million-line import then peaks 100-150 MB higher than what it holds (bench/fec.py: 557 MB
# against 440 MB with pages returned at once, same time). Read when polars first allocates,
# so set before any module of this package imports it; an operator's own setting wins.
os.environ.setdefault("_RJEM_MALLOC_CONF", "dirty_decay_ms:0,muzzy_decay_ms:0")
