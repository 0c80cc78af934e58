"""bunkatsu (物理分割): split a shared NW/retail database into two physically separate stores."""

__version__ = "0.1.0"
