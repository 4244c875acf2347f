"""EC2: images (read, copy, tag, share, deprecate, delete), instances and launch templates.

`AwsImages` is the domain's ImageCatalog (the tooling account's images); `AwsImageUsage` its
ImageUsage (instances and launch templates in every account we reach). The functions below
serve the Auto Scaling adapter: instances of groups, and launch template versions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from promote.adapters.aws.session import Aws, chunks, tag_list
from promote.config import Environment
from promote.domain.fleet import Group, Instance
from promote.domain.images import Image
from promote.domain.ports import TemplateRef

DESCRIBE_INSTANCES_PAGE = 1000
FILTER_VALUES_MAX = 200
IMAGE_MISSING = ("InvalidAMIID.NotFound", "InvalidAMIID.Unavailable")


def image_from(raw: dict[str, Any]) -> Image:
    """An Image from a DescribeImages entry, with its snapshot ids."""
    return Image(
        image_id=raw["ImageId"],
        name=raw.get("Name", ""),
        state=raw.get("State", "unknown"),
        creation_date=raw.get("CreationDate", ""),
        tags={t["Key"]: t["Value"] for t in raw.get("Tags", [])},
        snapshot_ids=tuple(
            m["Ebs"]["SnapshotId"]
            for m in raw.get("BlockDeviceMappings", [])
            if m.get("Ebs", {}).get("SnapshotId")
        ),
        copied_from=raw.get("SourceImageId"),
        owner_id=raw.get("OwnerId"),
    )


# --- instances ---


def _collect(pages: Any, wanted: set[str], found: dict[str, Instance]) -> None:
    for page in pages:
        for reservation in page["Reservations"]:
            for raw in reservation["Instances"]:
                if raw["InstanceId"] in wanted:
                    found[raw["InstanceId"]] = Instance(
                        instance_id=raw["InstanceId"],
                        image_id=raw["ImageId"],
                        state=raw["State"]["Name"],
                        private_dns=raw.get("PrivateDnsName", ""),
                        private_ip=raw.get("PrivateIpAddress", ""),
                        name_tag=next(
                            (t["Value"] for t in raw.get("Tags", []) if t["Key"] == "Name"), ""
                        ),
                    )


def group_instances(aws: Aws, env: Environment, groups: Sequence[Group]) -> dict[str, Instance]:
    """EC2's view of the groups' members: one paginated sweep by ASG tag, 1,000 a page."""
    client = aws.client("ec2", env)
    wanted = {m.instance_id for g in groups for m in g.members}
    found: dict[str, Instance] = {}
    if not wanted:
        return found
    with aws.calling(f"describing the instances of {env.name}"):
        paginator = client.get_paginator("describe_instances")
        names = [g.name for g in groups]
        for chunk in chunks(names, FILTER_VALUES_MAX):
            pages = paginator.paginate(
                Filters=[{"Name": "tag:aws:autoscaling:groupName", "Values": chunk}],
                PaginationConfig={"PageSize": DESCRIBE_INSTANCES_PAGE},
            )
            _collect(pages, wanted, found)
        # Members whose ASG tag EC2 does not show yet (or any more) are looked up by id.
        missing = sorted(wanted - found.keys())
        for chunk in chunks(missing, FILTER_VALUES_MAX):
            pages = paginator.paginate(
                Filters=[{"Name": "instance-id", "Values": chunk}],
                PaginationConfig={"PageSize": DESCRIBE_INSTANCES_PAGE},
            )
            _collect(pages, wanted, found)
    return found


# --- launch templates ---


def template_ref(aws: Aws, env: Environment, group: str, spec: dict[str, Any]) -> TemplateRef:
    """The launch template version SPEC (from a group) resolves to now."""
    version_spec = str(spec.get("Version") or "$Default")
    client = aws.client("ec2", env)
    with aws.calling(f"reading the launch template of {group}"):
        versions = client.describe_launch_template_versions(
            LaunchTemplateId=spec["LaunchTemplateId"], Versions=[version_spec]
        )["LaunchTemplateVersions"]
    version = versions[0]
    return TemplateRef(
        template_id=spec["LaunchTemplateId"],
        name=version.get("LaunchTemplateName", spec.get("LaunchTemplateName", "")),
        version_spec=version_spec,
        version=int(version["VersionNumber"]),
        image_id=version.get("LaunchTemplateData", {}).get("ImageId"),
    )


def new_template_version(aws: Aws, env: Environment, template: TemplateRef, ami: str) -> int:
    """A new version of TEMPLATE with only ImageId changed (made the default for `$Default`)."""
    client = aws.client("ec2", env)
    with aws.calling(f"updating launch template {template.name}"):
        # AWS merges SourceVersion's data under what we pass; the local AWS does not, so
        # the source's data is passed too. UserData is left to SourceVersion: echoing it
        # back breaks the local AWS, and on AWS it is inherited unchanged.
        source = client.describe_launch_template_versions(
            LaunchTemplateId=template.template_id, Versions=[str(template.version)]
        )["LaunchTemplateVersions"][0].get("LaunchTemplateData", {})
        data = {k: v for k, v in source.items() if k != "UserData"}
        created = client.create_launch_template_version(
            LaunchTemplateId=template.template_id,
            SourceVersion=str(template.version),
            VersionDescription=f"promote rollout: ImageId {ami}",
            LaunchTemplateData={**data, "ImageId": ami},
        )
        version = int(created["LaunchTemplateVersion"]["VersionNumber"])
        if template.version_spec == "$Default":
            client.modify_launch_template(
                LaunchTemplateId=template.template_id, DefaultVersion=str(version)
            )
    return version


# --- images ---


class AwsImages:
    """ImageCatalog over EC2 in the tooling account: list, copy, tag, share, deprecate, delete."""

    def __init__(self, aws: Aws) -> None:
        self.aws = aws

    def image(self, ami: str) -> Image | None:
        """The image, or None when the region has no such image."""
        client = self.aws.client("ec2")
        with self.aws.calling(f"describing {ami}", absorb=IMAGE_MISSING) as call:
            images = client.describe_images(ImageIds=[ami])["Images"]
        if call.absorbed or not images:
            return None
        return image_from(images[0])

    def _describe(self, doing: str, **kwargs: Any) -> list[Image]:
        client = self.aws.client("ec2")
        with self.aws.calling(doing):
            pages = client.get_paginator("describe_images").paginate(Owners=["self"], **kwargs)
            return [image_from(raw) for page in pages for raw in page["Images"]]

    def owned(self) -> list[Image]:
        """Every image the tooling account owns."""
        return self._describe("listing the account's images")

    def copies_of(self, source: str) -> list[Image]:
        """Tested copies of SOURCE, found by tag."""
        return [
            image
            for image in self._describe(
                f"looking for tested copies of {source}",
                Filters=[{"Name": "tag:promote:source-image", "Values": [source]}],
            )
            if image.stage == "tested" and image.state not in ("deregistered", "failed")
        ]

    def newest_base(self, owner: str, filters: Mapping[str, str]) -> Image | None:
        """The newest available image of OWNER matching FILTERS, or None."""
        client = self.aws.client("ec2")
        wanted = [{"Name": k, "Values": [v]} for k, v in filters.items()]
        wanted.append({"Name": "state", "Values": ["available"]})
        with self.aws.calling(f"looking for the base image of owner {owner}"):
            pages = client.get_paginator("describe_images").paginate(Owners=[owner], Filters=wanted)
            found = [image_from(raw) for page in pages for raw in page["Images"]]
        return max(found, key=lambda i: (i.creation_date, i.image_id), default=None)

    def copy(
        self, source: str, name: str, description: str, tags: dict[str, str], token: str
    ) -> str:
        """CopyImage with the tags at creation; afterwards only the tags the copy lacks (the
        local AWS drops CopyImage's tag specifications; AWS needs no second write, which the
        least-privilege policy would refuse for tags other than promote:*)."""
        client = self.aws.client("ec2")
        with self.aws.calling(f"copying {source}"):
            image_id: str = client.copy_image(
                SourceImageId=source,
                SourceRegion=self.aws.config.region,
                Name=name,
                Description=description,
                ClientToken=token,
                TagSpecifications=[{"ResourceType": "image", "Tags": tag_list(tags)}],
            )["ImageId"]
        with self.aws.calling(f"reading the tags of {image_id}"):
            found = client.describe_images(ImageIds=[image_id])["Images"]
        have = {t["Key"]: t["Value"] for image in found for t in image.get("Tags", [])}
        missing = {k: v for k, v in tags.items() if have.get(k) != v}
        if missing:
            self.tag(image_id, missing)
        return image_id

    def tag(self, ami: str, tags: dict[str, str]) -> None:
        """CreateTags."""
        client = self.aws.client("ec2")
        with self.aws.calling(f"tagging {ami}"):
            client.create_tags(Resources=[ami], Tags=tag_list(tags))

    def launch_permissions(self, ami: str) -> list[str]:
        """Account ids in the image's launchPermission attribute."""
        client = self.aws.client("ec2")
        with self.aws.calling(f"reading the launch permissions of {ami}"):
            raw = client.describe_image_attribute(ImageId=ami, Attribute="launchPermission")
        return sorted(p["UserId"] for p in raw.get("LaunchPermissions", []) if p.get("UserId"))

    def grant_launch(self, ami: str, accounts: list[str]) -> None:
        """Add launch permission on the image and create-volume permission on its snapshots."""
        if not accounts:
            return
        client = self.aws.client("ec2")
        image = self.image(ami)
        with self.aws.calling(f"sharing {ami} with {', '.join(accounts)}"):
            client.modify_image_attribute(
                ImageId=ami, LaunchPermission={"Add": [{"UserId": a} for a in accounts]}
            )
            for snapshot in image.snapshot_ids if image else ():
                client.modify_snapshot_attribute(
                    SnapshotId=snapshot,
                    Attribute="createVolumePermission",
                    OperationType="add",
                    UserIds=accounts,
                )

    def deprecate(self, ami: str, at: str) -> str | None:
        """EnableImageDeprecation: None, or why the endpoint failed at it after retries (the
        local AWS answers 500). A refusal (AccessDenied) or a bad request is a PromoteError."""
        client = self.aws.client("ec2")
        with self.aws.calling(f"deprecating {ami}", tolerate_server_error=True) as call:
            client.enable_image_deprecation(ImageId=ami, DeprecateAt=at)
        return call.server_error

    def disable(self, ami: str) -> None:
        """DisableImage (idempotent on AWS and on the local AWS)."""
        client = self.aws.client("ec2")
        with self.aws.calling(f"disabling {ami}"):
            client.disable_image(ImageId=ami)

    def deregister(self, image: Image) -> list[str]:
        """DeregisterImage, then DeleteSnapshot for each of its snapshots."""
        client = self.aws.client("ec2")
        deleted = []
        with self.aws.calling(f"deregistering {image.image_id}"):
            client.deregister_image(ImageId=image.image_id)
        for snapshot in image.snapshot_ids:
            with self.aws.calling(
                f"deleting snapshot {snapshot}", absorb=("InvalidSnapshot.NotFound",)
            ):
                client.delete_snapshot(SnapshotId=snapshot)
            deleted.append(snapshot)
        return deleted


class AwsImageUsage:
    """What uses an image: instances (any state) and launch templates, in every account we reach."""

    def __init__(self, aws: Aws) -> None:
        self.aws = aws

    def _targets(self, envs: Sequence[Environment]) -> list[tuple[str, Environment | None]]:
        seen: set[tuple[str, str | None]] = set()
        targets: list[tuple[str, Environment | None]] = []
        for env in [None, *envs]:
            key = (
                self.aws.config.env_region(env) if env else self.aws.config.region,
                env.role_arn if env else None,
            )
            if key not in seen:
                seen.add(key)
                targets.append((env.name if env else "tooling account", env))
        return targets

    def instance_images(self, envs: Sequence[Environment]) -> dict[str, list[str]]:
        """AMI id -> instance ids using it, in any state (terminated ones too)."""
        used: dict[str, list[str]] = {}
        for where, env in self._targets(envs):
            client = self.aws.client("ec2", env)
            with self.aws.calling(f"listing the instances of {where}"):
                pages = client.get_paginator("describe_instances").paginate(
                    PaginationConfig={"PageSize": DESCRIBE_INSTANCES_PAGE}
                )
                for page in pages:
                    for reservation in page["Reservations"]:
                        for raw in reservation["Instances"]:
                            used.setdefault(raw["ImageId"], []).append(raw["InstanceId"])
        return used

    def launch_template_images(self, envs: Sequence[Environment]) -> dict[str, list[str]]:
        """AMI id -> launch templates whose default or latest version names it."""
        used: dict[str, list[str]] = {}
        for where, env in self._targets(envs):
            client = self.aws.client("ec2", env)
            with self.aws.calling(f"listing the launch templates of {where}"):
                templates = [
                    t
                    for page in client.get_paginator("describe_launch_templates").paginate()
                    for t in page["LaunchTemplates"]
                ]
                for template in templates:
                    versions = client.describe_launch_template_versions(
                        LaunchTemplateId=template["LaunchTemplateId"],
                        Versions=["$Default", "$Latest"],
                    )["LaunchTemplateVersions"]
                    for version in versions:
                        ami = version.get("LaunchTemplateData", {}).get("ImageId")
                        if ami:
                            label = (
                                f"launch template {template['LaunchTemplateName']} "
                                f"v{version['VersionNumber']}"
                            )
                            if label not in used.get(ami, []):
                                used.setdefault(ami, []).append(label)
        return used
