#!/bin/sh
# Bakes Governor into the build instance (run as root by ami/governor.pkr.hcl).
# Inputs (environment): NODE_VERSION, NODE_SHA256 (of node-v$NODE_VERSION-linux-$NODE_ARCH.tar.xz),
# NODE_ARCH (x64 | arm64); files uploaded first: /tmp/governor.tgz (npm run bundle),
# /tmp/governor.service. Works on Debian 12 and Amazon Linux 2023.
set -eu

: "${NODE_VERSION:?}" "${NODE_SHA256:?}" "${NODE_ARCH:?}"

if command -v apt-get >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update
  apt-get install -y --no-install-recommends ca-certificates curl xz-utils tar
else
  dnf install -y --setopt=install_weak_deps=False ca-certificates xz tar
fi

# Node.js LTS from the official tarball, checked against the pinned SHA-256.
node_tar="node-v${NODE_VERSION}-linux-${NODE_ARCH}.tar.xz"
curl -fsSL --proto '=https' --tlsv1.2 -o "/tmp/${node_tar}" "https://nodejs.org/dist/v${NODE_VERSION}/${node_tar}"
echo "${NODE_SHA256}  /tmp/${node_tar}" | sha256sum -c -
mkdir -p /opt/node
tar -xJf "/tmp/${node_tar}" -C /opt/node --strip-components=1 --no-same-owner
ln -sf /opt/node/bin/node /usr/local/bin/node
rm -f "/tmp/${node_tar}"
node_major=$(/usr/local/bin/node -p 'process.versions.node.split(".")[0]')
[ "$node_major" -ge 20 ] || { echo "Node $NODE_VERSION is older than 20" >&2; exit 1; }

# The service user: no login, no home of its own beyond its state folder.
if ! id governor >/dev/null 2>&1; then
  useradd --system --user-group --home-dir /var/lib/governor --no-create-home \
    --shell "$(command -v nologin || echo /usr/sbin/nologin)" governor
fi

# The bundle, owned by root: the service can read its code but never change it.
rm -rf /opt/governor
mkdir -p /opt/governor
tar -xzf /tmp/governor.tgz -C /opt/governor --strip-components=1 --no-same-owner
chown -R root:root /opt/governor
chmod -R u=rwX,go=rX /opt/governor
rm -f /tmp/governor.tgz
/usr/local/bin/node /opt/governor/dist/governor/cli.js --help >/dev/null

install -m 0644 -o root -g root /tmp/governor.service /etc/systemd/system/governor.service
rm -f /tmp/governor.service
systemctl daemon-reload
systemctl enable governor.service

# No remote shell on the image: the fleet is managed through its own API and the cloud.
# The packer session survives (sshd keeps running connections), and the image boots without sshd.
for unit in ssh.service ssh.socket sshd.service sshd.socket ec2-instance-connect.service; do
  systemctl disable "$unit" 2>/dev/null || true
  systemctl mask "$unit"
done
if command -v apt-get >/dev/null 2>&1; then
  apt-get purge -y openssh-server
  apt-get autoremove -y
  apt-get clean
else
  dnf remove -y openssh-server ec2-instance-connect || dnf remove -y openssh-server
  dnf clean all
fi
rm -f /root/.ssh/authorized_keys /home/*/.ssh/authorized_keys

# Let the image's first boot run cloud-init anew (no leftovers of the build instance).
if command -v cloud-init >/dev/null 2>&1; then cloud-init clean --logs; fi
