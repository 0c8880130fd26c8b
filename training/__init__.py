"""The training engine behind ``polypviewer train`` and the GUI wizard. Never imports Qt."""
