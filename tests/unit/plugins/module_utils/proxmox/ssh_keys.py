"""Public keys for the tests (generated with ssh-keygen; the private halves were thrown away)."""

ED25519 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIC3SotvwS+5q+iCCAvhq7cu2qd/NImYXYJ6ZFRD0PUgT admin@example.com"
RSA = (
    "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQComrqJF5psB+mgu3VQGa0IsQz4kAUJTGRH63wLZZjU207Im/PnrW9L+xUkhXAW"
    "U8lu2f37Cg2+11UXS/3+/LSVC2i97TX01Q7xeFBPW+J0CUBtOUOR1kS8Dy5yxj4IwdYuJRc1TiN5iQhy/0wMNJXF5JrO42t6W/8c"
    "Z3Tbk2CU3zp9KisqFlzAw/jZu+XtEjdowQAjIk3b+XykXoCzqlzzkOuaGCaE4TwWca2rHbGYGEEqMl5D/1IbXy8xV72GK4ryUmhI"
    "upJvJOYoL+q8KosXX8rUMnC4ekwva9lS6St1boGSaCVfidJyXtF653ESCLbevVG83N9OAjIHOvNk7tfz ops+x@example.com"
)
ECDSA384 = (
    "ecdsa-sha2-nistp384 AAAAE2VjZHNhLXNoYTItbmlzdHAzODQAAAAIbmlzdHAzODQAAABhBPSneumxFXF29RKt10HwnQwBnMD7"
    "SeLjwR4CFiaFbemqCMVLts51gDKyPsnsiOQdl8CEBllMIaCA59MQzq4m8bbEzPed5+w7jg5xKWK9zPJmckmDlP5CFr7iHE3pzJhl"
    "dA== e@example.com"
)
# 1024 bits: the smallest RSA key OpenSSH takes.
RSA_1024 = (
    "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQDO6DWE3UdK/o1nS86PkH4BpvDRWs21IfrlmaOWoFoYnAvMX/0XNrW+T5UW8Se9"
    "WsnRzOnnG3y4OYLNF9NSg3qgNPuQVOJLOTh7i1nZdSCM3ozW/uobDkvNq7Z2ZSNu7CKDrY3XRNsRBJYv0f1dpD0AIpwaPOi4e1Sh"
    "0H8gev2j3w== small"
)
