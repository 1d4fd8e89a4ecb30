package io.essync.esnode;

import org.elasticsearch.Build;
import org.elasticsearch.common.logging.LogConfigurator;
import org.elasticsearch.common.settings.Settings;
import org.elasticsearch.env.Environment;
import org.elasticsearch.node.ClasspathNode;
import org.elasticsearch.node.InternalSettingsPreparer;
import org.elasticsearch.node.Node;
import org.elasticsearch.plugins.Plugin;
import org.elasticsearch.transport.netty4.Netty4Plugin;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * Starts one real Elasticsearch 8 node in this JVM for essync's tests and no-Docker quick start:
 * single-node discovery, bound to 127.0.0.1, no security (the security plugin is not on the class path).
 *
 * <p>Usage: {@code java -cp 'target/lib/*:target/esnode-1.0.0.jar' io.essync.esnode.EsNode HOME_DIR [HTTP_PORT]}.
 * HOME_DIR holds config/, data/ and logs/. With {@code -Desnode.pidfile=FILE} the JVM writes its pid there
 * (so scripts/es-node can stop exactly this JVM) and removes it on exit. Stops cleanly on SIGTERM/SIGINT.
 */
public final class EsNode {

    /** Node and cluster name; shows up in {@code GET /} and the logs. */
    static final String NODE_NAME = "essync-node";

    private EsNode() {}

    /** Entry point; see the class comment for arguments. Exits 1 with a stack trace if the node cannot start. */
    public static void main(String[] args) {
        if (args.length < 1 || args.length > 2) {
            System.err.println("usage: EsNode HOME_DIR [HTTP_PORT]");
            System.exit(2);
        }
        // Written first, so scripts/es-node can tell a starting node from one that died.
        String pidFileName = System.getProperty("esnode.pidfile", "");
        Path pidFile = pidFileName.isEmpty() ? null : Path.of(pidFileName);
        try {
            if (pidFile != null) {
                Files.writeString(pidFile, ProcessHandle.current().pid() + "\n");
            }
            run(Path.of(args[0]).toAbsolutePath(), args.length > 1 ? args[1] : "9200", pidFile);
        } catch (Throwable t) {
            System.err.println("esnode: Elasticsearch failed to start: " + t);
            t.printStackTrace();
            deletePidFile(pidFile);
            // Elasticsearch may already have started non-daemon threads; exit explicitly.
            System.exit(1);
        }
    }

    private static void run(Path home, String httpPort, Path pidFile) throws Exception {
        Path config = home.resolve("config");
        Files.createDirectories(config);
        Files.createDirectories(home.resolve("data"));
        Files.createDirectories(home.resolve("logs"));
        try (InputStream log4j = EsNode.class.getResourceAsStream("log4j2.properties")) {
            if (log4j == null) {
                throw new IOException("log4j2.properties missing from the launcher jar");
            }
            Files.copy(log4j, config.resolve("log4j2.properties"), StandardCopyOption.REPLACE_EXISTING);
        }

        Settings settings = Settings.builder()
            .put("cluster.name", "essync-local")
            .put("node.name", NODE_NAME)
            .put("path.home", home.toString())
            .put("path.data", home.resolve("data").toString())
            .put("path.logs", home.resolve("logs").toString())
            .put("network.host", "127.0.0.1")
            .put("http.port", httpPort)
            .put("transport.port", "0")
            .put("discovery.type", "single-node")
            // A nearly full CI disk must not flip test indices to read-only.
            .put("cluster.routing.allocation.disk.threshold_enabled", false)
            .build();

        Environment environment = InternalSettingsPreparer.prepareEnvironment(settings, Map.of(), config, () -> NODE_NAME);
        LogConfigurator.registerErrorListener();
        LogConfigurator.setNodeName(NODE_NAME);
        LogConfigurator.configure(environment, true);

        List<Class<? extends Plugin>> plugins = List.of(Netty4Plugin.class, RootInfoPlugin.class);
        Node node = new ClasspathNode(environment, plugins);

        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> stop(node, pidFile, stopped), "esnode-shutdown"));

        node.start();
        System.out.println("esnode: Elasticsearch " + Build.current().version() + " started on http://127.0.0.1:" + httpPort);
        stopped.await();
    }

    private static void stop(Node node, Path pidFile, CountDownLatch stopped) {
        try {
            node.prepareForClose();
            node.close();
            if (node.awaitClose(30, TimeUnit.SECONDS) == false) {
                System.err.println("esnode: node did not close within 30s");
            }
        } catch (Exception e) {
            System.err.println("esnode: error while stopping: " + e);
        } finally {
            deletePidFile(pidFile);
            stopped.countDown();
        }
    }

    private static void deletePidFile(Path pidFile) {
        if (pidFile == null) {
            return;
        }
        try {
            Files.deleteIfExists(pidFile);
        } catch (IOException e) {
            System.err.println("esnode: cannot remove pid file: " + e);
        }
    }
}
