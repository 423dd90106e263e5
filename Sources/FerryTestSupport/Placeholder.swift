enum PlaceholderFerryTestSupport {}
