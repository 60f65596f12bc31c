"""Parsers that turn incoming material (listings, arXiv, RSS/Atom, BibTeX) into PaperRecords."""
