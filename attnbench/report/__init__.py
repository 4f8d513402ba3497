"""Tables, plots and HTML from stored rows. A report never runs a model."""
