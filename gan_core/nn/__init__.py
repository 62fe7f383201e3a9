"""Building blocks shared by several variants (a block used by one variant lives in that variant's file)."""
