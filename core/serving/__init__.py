"""Serving one upload: the classifier, saliency maps, the diagnosis, its report and exports."""
