"""Assessment (考核) and the command centre (指挥中心): a fact row per case derived from its
timeline, indicators and composite scores stored as data, rankings, frozen months,
appeals, reports, threshold alerts and the live wall screen."""
