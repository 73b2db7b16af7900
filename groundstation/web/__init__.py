"""The browser view of a shared incident, opened by a share link (docs/partners.md)."""
