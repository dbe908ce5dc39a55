"""Reports from run directories (read-only: it renders what runs wrote and never trains)."""
