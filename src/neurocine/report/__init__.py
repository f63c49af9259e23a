"""HTML reports of result folders."""
