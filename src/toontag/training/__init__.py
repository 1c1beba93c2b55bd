"""Training: the paper's recipe as a LightningModule, and run directories that resume."""
