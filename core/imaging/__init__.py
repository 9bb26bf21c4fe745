"""Images: decoding uploads and files, the model's preprocessing, display aids, and a drawn phantom."""
