"""The test suite, one folder per room of the code (README, "Map of the code")."""
