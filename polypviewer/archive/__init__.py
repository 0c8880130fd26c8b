"""A department's recorded procedures: discovery, batch analysis (Ray or in-process), results database.

Never imports Qt; the GUI's archive view and the CLI call it. Ray is imported only by
``runner`` when a batch runs on Ray (the optional ``cluster`` extra).
"""
