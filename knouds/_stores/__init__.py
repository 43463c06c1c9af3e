"""Where state lives: the memory, SQLite and Redis backends of pacing, budgets and the run
journal, and the usage report."""
