from ssl_video import cli


def test_help_lists_every_command(capsys):
    assert cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    for words in cli.COMMANDS:
        assert " ".join(words) in out


def test_unknown_command_fails(capsys):
    assert cli.main(["no-such-command"]) == 2
    assert "usage" in capsys.readouterr().err


def test_top_level_api_is_lazy_and_complete():
    import ssl_video

    assert "vit_tiny" in ssl_video.list_encoders()
    assert callable(ssl_video.load_encoder) and callable(ssl_video.get_encoder)
