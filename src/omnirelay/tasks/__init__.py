"""The asynchronous task engine shared by every task vendor (Kling now; Suno, Midjourney next).

``model`` holds what a task is, ``store`` the table, ``engine`` submission and billing,
``poller`` the background worker, ``webhooks`` the signed callbacks.
"""
