"""What leaves the app: overlays, file writers and the procedure report."""
