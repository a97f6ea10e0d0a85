"""Storage: the catalog (SQLite, one row per file) and the vector store (Chroma collection +
thumbnails), reuse of a copy's vectors, and other machines' videos in a shared store.
"""
