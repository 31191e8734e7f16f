"""What to settle and how, as pure functions over plain data: one module per settlement family."""
