"""Front ends that turn engine events into output: Rich panels, plain text, JSON."""
