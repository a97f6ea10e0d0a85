"""Storage: the catalog (SQLite, one row per file; globsql turns path globs into SQL; sqlitetx is the
one write transaction of every local SQLite database) and the vector store (Chroma collection +
thumbnails), reuse of a copy's vectors, and other machines' videos in a shared store.
"""
