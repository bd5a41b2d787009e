"""Board and host integration: GPIO, sensors and the systemd notification socket."""
