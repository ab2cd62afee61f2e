"""The `handmocap` command line (installed as package `handmocap_cli`)."""
