"""Labelling a user's own cartoon: a project folder holding a pool of candidate frames from
their episodes (and, in later steps, the labels, classes and models made from it)."""
