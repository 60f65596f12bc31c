"""Feeds in and out: source parsers (``feeds.sources``), feed rendering and the HTTP server."""
