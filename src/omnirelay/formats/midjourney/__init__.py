"""The midjourney-proxy wire family: its bodies and codes (wire), what each action is and how
buttons map between the upstream's ids and ours (actions), validating and planning each submit
route (plans), and our task as the proxy's Task JSON (render)."""
