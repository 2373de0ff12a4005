"""What people read: notebook reports (contract, run, render), plots, notebook
helpers and the interactive explorer."""
