"""Pictures of a trained model (the library behind zoo-visualize); see `make_pictures`."""
