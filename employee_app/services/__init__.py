"""Business rules. Views, the CLI and (later) the import worker call these;
nothing here knows about requests or templates."""
