"""A tiny trained person for the avatar tests: a 24 px synthetic dataset with mfcc-style features (so a .wav
drives it offline), parsing images, and a few steps of head + torso training of each backend, all through
the NeRFs' command lines (tests/avatar/trained.py)."""
import pytest

from tests.avatar.trained import train_person


@pytest.fixture(scope="session")
def person(tmp_path_factory):
    """dataset/<id>/ with logs/ holding an MLP and a grid head + torso (see trained.train_person)."""
    return train_person(tmp_path_factory.mktemp("avatar") / "person")
