from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('outbound', '0006_outbox_confirmation'),
    ]

    operations = [
        migrations.AlterField(
            model_name='outboxitem',
            name='kind',
            field=models.CharField(choices=[('auto_ack', 'Auto Ack'), ('reply', 'Reply'), ('note', 'Note'), ('forward', 'Forward'), ('auto_reply', 'Auto Reply'), ('notice', 'Notice'), ('confirmation', 'Confirmation'), ('task', 'Task')], max_length=20),
        ),
    ]
