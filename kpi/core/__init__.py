"""What every layer shares: settings, people, fiscal calendar, number formats, safe output."""
