"""The signed-in user's front door: the home page of each role and the page frame."""
