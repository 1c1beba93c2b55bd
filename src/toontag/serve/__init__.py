"""Serve: the search app over an index and the labelling app over a project, each a web page
and a JSON API."""
