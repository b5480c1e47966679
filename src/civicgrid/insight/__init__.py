"""Public-sentiment intelligence (民情数据): a text classifier that learns from the city's
own history, urgency scores with their reasons, and hot issues."""
