"""Hostile input for `mlplatform check`: small seeds in corpus/, recipes for large ones in cases.py."""
