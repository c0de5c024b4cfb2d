"""The firm's FEC (Fichier des Écritures Comptables) in the portal: import (parser, importer),
what is computed at import (indicators by month, open items, charges by party), and what the
pages read. Design: docs/adr/0027-fec-indicators.md."""
