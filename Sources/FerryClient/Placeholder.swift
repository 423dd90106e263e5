enum PlaceholderFerryClient {}
