"""The catalogue's words by language, as the pages show them."""

from pipeline.catalogue import CATALOGUE

IT = {key: words[0] for key, words in CATALOGUE.items()}
EN = {key: words[1] for key, words in CATALOGUE.items()}
