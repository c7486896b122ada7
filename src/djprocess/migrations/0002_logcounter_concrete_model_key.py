"""Log counters are keyed by the concrete process model: merge counters a proxy model made.

Before, ``log()`` through a proxy model kept a second counter for the same row under the
proxy's label. Each such row is folded into its concrete model's counter (the larger value
wins: only one of the two ever numbered lines, the other's writes failed) and deleted.
Labels are resolved with the installed apps (a proxy has no table of its own, and the
process models belong to apps this migration cannot depend on); unknown labels are left alone.
"""

from typing import Any

from django.apps import apps as installed_apps
from django.db import migrations, models


def merge_proxy_counters(apps: Any, schema_editor: Any) -> None:
    LogCounter = apps.get_model("djprocess", "LogCounter")
    db = schema_editor.connection.alias if schema_editor is not None else "default"
    counters = LogCounter._base_manager.using(db)
    for label in counters.values_list("model", flat=True).distinct():
        try:
            model = installed_apps.get_model(label)
        except (LookupError, ValueError):
            continue
        concrete = model._meta.concrete_model._meta.label_lower
        if concrete == label:
            continue
        for proxy in counters.filter(model=label):
            target, _ = counters.get_or_create(
                model=concrete, object_id=proxy.object_id, defaults={"value": 0}
            )
            if proxy.value > target.value:
                counters.filter(pk=target.pk).update(value=proxy.value)
            proxy.delete()


class Migration(migrations.Migration):

    dependencies = [
        ("djprocess", "0001_initial"),
    ]

    operations = [
        migrations.AlterField(
            model_name="logcounter",
            name="model",
            field=models.CharField(
                help_text="Concrete process model label, app.model.", max_length=100
            ),
        ),
        migrations.RunPython(merge_proxy_counters, migrations.RunPython.noop, elidable=True),
    ]
