"""The one place the vecpress version is written: pyproject.toml and CMakeLists.txt read it."""
__version__ = "0.1.0"
