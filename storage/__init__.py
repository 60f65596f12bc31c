"""The SQLite store: migrations, repositories, search and the domain dataclasses."""
