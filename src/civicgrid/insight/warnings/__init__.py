"""Hot spots and early warning (风险预警): statistically significant clusters of one category
of cases across neighbouring grids, and surges of one grid against its own history, raised
as warnings with an explanation and sent to the cadres responsible."""
