/** The usage text of each command, printed by `--help` and after a UsageError. */

const CREATE_OPTIONS = `Options:
      --rootfs DIR            Root filesystem: an absolute directory on the host (instead of IMAGE)
      --name NAME             Assign a name to the container
      --ipc MODE              IPC mode: none, private, shareable, host, container:<name|id>
      --shm-size SIZE         Size of /dev/shm (bytes or 64m, 1g)
      --runtime NAME          Runtime to use for this container
      --security-opt OPT      Security options (repeatable)
      --host HOST             Place the container on this host
      --read-only             Mount the container's root filesystem read-only
      --privileged            Give extended privileges to this container
      --rm                    Remove the container when it exits
  -m, --memory BYTES          Memory limit (bytes or 512m, 1g; at least 6m)
      --cpus DECIMAL          Number of CPUs (1.5)
      --restart POLICY        Restart policy: no, always, unless-stopped, on-failure[:N]
      --stop-on-disconnect D  Stop the container when its host is cut off from the control plane
                              for this long (30s; shorter than the heartbeat timeout)
  -e, --env K=V               Set environment variables (repeatable; K alone copies it from here)
  -w, --workdir DIR           Working directory inside the container
  -v, --volume SRC:DST[:ro]   Bind mount a host path (options: ro, rw, rro)
  -u, --user USER[:GROUP]     Run as this user (names from the image's /etc/passwd and /etc/group)
      --entrypoint CMD        Overwrite the image's entrypoint ("" clears it)

An IMAGE no host holds is pulled first (credentials from 'shoal login').`;

const GLOBAL = `Global options:
      --addr ADDR   The api's gRPC address (default: $SHOAL_ADDR, else 127.0.0.1:7420)`;

const USAGE: Record<string, string> = {
  "": `Usage:  shoal [--addr ADDR] COMMAND

A container engine that treats containers sharing an IPC namespace as one unit.

Commands:
  run        Create and start a container
  create     Create a container
  start      Start one or more containers
  stop       Stop one or more running containers
  restart    Restart one or more containers
  rename     Rename a container
  top        Display the running processes of a container
  kill       Kill one or more running containers
  rm         Remove one or more containers
  pause      Pause all processes within one or more containers
  unpause    Unpause all processes within one or more containers
  exec       Run a command in a running container
  logs       Fetch the logs of a container
  inspect    Show low-level information on containers (JSON)
  ps         List containers
  wait       Block until containers stop, then print their exit codes
  events     Stream events from the log, resumable with a cursor
  hosts      List hosts
  host       Drain or activate a host
  checkpoint Manage checkpoints (needs experimental)
  pull       Pull an image from a registry
  images     List images
  image      Manage images (ls, pull, rm, inspect, tag, load, save)
  rmi        Remove one or more images
  tag        Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
  load       Load images from a tar archive (docker save or OCI layout) or stdin
  save       Save images to a tar archive (stdout by default)
  login      Keep credentials for a registry
  logout     Forget the credentials for a registry
  config     Show or change the daemon config
  version    Show the shoal version

${GLOBAL}
  -v, --version     Print the version and exit

Run 'shoal COMMAND --help' for more information on a command.`,
  run: `Usage:  shoal run [OPTIONS] (--rootfs DIR | IMAGE) [COMMAND] [ARG...]

Create and start a container. Without -d, print its output and exit with its exit code;
125 when Shoal refuses the request, 126/127 when the command could not be started.

  -d, --detach                Run in the background and print the container ID
${CREATE_OPTIONS}`,
  create: `Usage:  shoal create [OPTIONS] (--rootfs DIR | IMAGE) [COMMAND] [ARG...]

Create a container and print its ID.

${CREATE_OPTIONS}`,
  start: `Usage:  shoal start [OPTIONS] CONTAINER [CONTAINER...]

  -a, --attach            Wait for the container, print its output and exit with its exit code
      --checkpoint NAME   Restore from this checkpoint (needs experimental; never starts fresh instead);
                          a group checkpoint of an owner restores the whole group
      --host HOST         Place the start on this host (a restore on another host)`,
  checkpoint: `Usage:  shoal checkpoint COMMAND

Commands (all need the daemon's experimental setting):
  create [--leave-running] [--group] CONTAINER CHECKPOINT
  ls CONTAINER
  rm CONTAINER CHECKPOINT
  export CONTAINER CHECKPOINT -o FILE
  import FILE

Restore with: shoal start --checkpoint CHECKPOINT [--host HOST] CONTAINER`,
  "checkpoint create": `Usage:  shoal checkpoint create [OPTIONS] CONTAINER CHECKPOINT

Checkpoint a running container (its memory, its /dev/shm when it owns a shareable one, its
writable layer) and stop it, unless --leave-running.

      --leave-running   Leave the container running after the checkpoint
      --group           Checkpoint CONTAINER's whole IPC group (CONTAINER is its --ipc shareable
                        owner): the owner and every running member, the shared memory saved once`,
  "checkpoint ls": `Usage:  shoal checkpoint ls [OPTIONS] CONTAINER

      --format FORMAT   table (default) or json (one object per line)`,
  "checkpoint rm": `Usage:  shoal checkpoint rm CONTAINER CHECKPOINT`,
  "checkpoint export": `Usage:  shoal checkpoint export CONTAINER CHECKPOINT -o FILE

Write the checkpoint as one archive (restorable on another host after import).

  -o, --output FILE   Where to write it`,
  "checkpoint import": `Usage:  shoal checkpoint import FILE

Bring in a checkpoint archive made by export, for the container it names.`,
  pull: `Usage:  shoal pull [OPTIONS] NAME[:TAG|@DIGEST]

Pull an image onto a host (per-layer progress on a terminal, plain lines otherwise).

      --host HOST   Pull onto this host (default: the active host with the fewest containers)
  -q, --quiet       Print only the image's name`,
  images: `Usage:  shoal images [OPTIONS] [REPOSITORY[:TAG]]

List the images of every active host (merged by image id), or of one.

      --host HOST             Only this host's images
  -q, --quiet                 Only image IDs
      --no-trunc              Full image IDs
      --digests               Show digests
  -f, --filter reference=X    Names matching X ('busy*', 'localhost:5000/*:v1')
      --format FORMAT         table (default), json (one object per line) or a template`,
  image: `Usage:  shoal image COMMAND

Commands: ls, pull, rm, inspect, tag, load, save (as the top-level images, pull, rmi, image inspect, tag, load, save)`,
  "image inspect": `Usage:  shoal image inspect [OPTIONS] IMAGE [IMAGE...]

  -f, --format TEMPLATE   Print TEMPLATE per image: '{{.Id}}', '{{json .Config}}'`,
  rmi: `Usage:  shoal rmi [OPTIONS] IMAGE [IMAGE...]

Remove images from every host holding them. An image a container uses is refused unless -f
(never for a running container's).

  -f, --force   Remove even when a stopped container uses it, or an id with several names`,
  tag: `Usage:  shoal tag SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]`,
  load: `Usage:  shoal load [OPTIONS]

Load images from a 'docker save' archive or an OCI image layout tar.

  -i, --input FILE   Read from this file instead of stdin
      --host HOST    Load onto this host
  -q, --quiet        Print nothing`,
  save: `Usage:  shoal save [OPTIONS] IMAGE [IMAGE...]

Save images to one tar archive (an OCI image layout with Docker's manifest.json).

  -o, --output FILE   Write to this file instead of stdout`,
  login: `Usage:  shoal login [OPTIONS] [SERVER]

Keep credentials for SERVER (default docker.io) in ~/.shoal/config.json ($SHOAL_CONFIG),
sent with pulls from it.

  -u, --username USER   Username
  -p, --password PASS   Password
      --password-stdin  Read the password from stdin`,
  logout: `Usage:  shoal logout [SERVER]`,
  stop: `Usage:  shoal stop [OPTIONS] CONTAINER [CONTAINER...]

  -t, --time N   Seconds to wait before killing the container (default 10)`,
  restart: `Usage:  shoal restart [OPTIONS] CONTAINER [CONTAINER...]

Stop each container (if it runs) and start it again.

  -t, --time N   Seconds to wait before killing the container (default 10)`,
  rename: `Usage:  shoal rename CONTAINER NEW_NAME`,
  top: `Usage:  shoal top CONTAINER [ps OPTIONS]

Display the running processes of a container, as ps(1) on its host shows them (default -ef).`,
  kill: `Usage:  shoal kill [OPTIONS] CONTAINER [CONTAINER...]

  -s, --signal SIG   Signal to send (default SIGKILL)`,
  rm: `Usage:  shoal rm [OPTIONS] CONTAINER [CONTAINER...]

  -f, --force   Stop running containers (and an owner's members) before removing`,
  pause: `Usage:  shoal pause CONTAINER [CONTAINER...]`,
  unpause: `Usage:  shoal unpause CONTAINER [CONTAINER...]`,
  exec: `Usage:  shoal exec [OPTIONS] CONTAINER COMMAND [ARG...]

  -e, --env K=V         Set environment variables (repeatable)
  -w, --workdir DIR     Working directory inside the container`,
  logs: `Usage:  shoal logs [OPTIONS] CONTAINER

  -n, --tail N   Number of lines to show from the end (default all)
  -f, --follow   Keep printing new output until the container stops`,
  inspect: `Usage:  shoal inspect [OPTIONS] CONTAINER [CONTAINER...]

Print a JSON array with docker's fields (Id, Name, State, HostConfig…) plus Host and IpcGroup.

  -f, --format TEMPLATE   Print TEMPLATE per container: '{{.State.Pid}}', '{{json .IpcGroup}}'`,
  ps: `Usage:  shoal ps [OPTIONS]

  -a, --all             Show all containers (default shows just running)
  -f, --filter K=V      Filter: name=, id=, status=, host=, ipc-owner= (one value per key)
  -q, --quiet           Only display container IDs
      --no-trunc        Don't truncate output (full IDs and commands)
      --format FORMAT   table (default), json (one object per line) or a template: '{{.ID}} {{.Names}}'`,
  wait: `Usage:  shoal wait CONTAINER [CONTAINER...]`,
  events: `Usage:  shoal events [OPTIONS]

Stream events, one line each, ending with the cursor to resume after it. Without --until,
follow new events until interrupted.

      --since TIME      Events recorded at or after TIME (RFC 3339, Unix seconds, or 10m ago)
      --until TIME      Stop after events recorded after TIME
      --cursor CURSOR   Resume after this cursor (from a previous line)
  -f, --filter K=V      type=, container=, aggregate=, host= (ANDed across keys, ORed within one)
      --format FORMAT   table (default) or json (one object per line)`,
  hosts: `Usage:  shoal hosts [OPTIONS]

      --format FORMAT   table (default) or json (one object per line)`,
  host: `Usage:  shoal host COMMAND

Commands:
  drain [--checkpoint] HOST   Stop placing containers on HOST and move what runs there elsewhere
  activate HOST   End a drain: HOST takes containers again`,
  "host drain": `Usage:  shoal host drain [--checkpoint] HOST

Stops new placements on HOST, then moves every container running there to another host
(stopped, then started elsewhere; an IPC group together, its owner first). Prints the moved
containers; exits 1 when a container could not be moved.

      --checkpoint   Move by checkpoint and restore (needs experimental): each container, an
                     IPC group as one, goes on where it was instead of starting afresh`,
  "host activate": `Usage:  shoal host activate HOST`,
  config: `Usage:  shoal config COMMAND

Commands:
  show                           Print the daemon config (daemon.json)
  set KEY=VALUE [KEY=VALUE...]   Change keys; refused whole when invalid
  reload --file daemon.json      Replace the whole config from a file`,
  "config show": `Usage:  shoal config show [--format json]

Print the current daemon config as daemon.json; with --format json, with its version.`,
  "config set": `Usage:  shoal config set KEY=VALUE [KEY=VALUE...]

Example: shoal config set experimental=true default-ipc-mode=shareable`,
  "config reload": `Usage:  shoal config reload --file daemon.json`,
  version: `Usage:  shoal version`,
  help: `Usage:  shoal help [COMMAND]`,
};

export function usageOf(topic: string | undefined): string {
  const text = USAGE[topic ?? ""] ?? USAGE[""]!;
  return topic === undefined || topic === "" || topic === "help" ? text : `${text}\n\n${GLOBAL}`;
}
